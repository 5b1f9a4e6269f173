BEGIN;
SET LOCAL lock_timeout = '2s';
CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total);
COMMIT;
