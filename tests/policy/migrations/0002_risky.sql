-- Typical mistakes on existing, large tables.
CREATE INDEX orders_created_idx ON orders (created_at);

ALTER TABLE orders
  ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();

ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0);

ALTER TABLE customers ALTER COLUMN email SET NOT NULL;

ALTER TABLE orders DROP COLUMN note;
