SET lock_timeout = '2s';
CREATE TABLE events (
  id serial PRIMARY KEY,
  payload json,
  happened_at timestamp
);
