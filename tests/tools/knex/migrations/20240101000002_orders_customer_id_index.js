// Index orders.customer_id, as first written: inside knex's transaction. schemagate rewrites
// CREATE INDEX into CREATE INDEX CONCURRENTLY, which cannot run in a transaction block, so
// through the proxy this migration fails with SG005. Fixed: non_transactional/ (same name).
exports.up = (knex) =>
  knex.schema.alterTable('orders', (t) => {
    t.index(['customer_id'], 'orders_customer_id_idx');
  });

exports.down = (knex) =>
  knex.schema.alterTable('orders', (t) => {
    t.dropIndex(['customer_id'], 'orders_customer_id_idx');
  });
