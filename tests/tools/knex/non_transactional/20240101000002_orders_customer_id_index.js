// Index orders.customer_id outside knex's transaction: the fix schemagate's SG005 hint names.
// Through the proxy the CREATE INDEX becomes CREATE INDEX CONCURRENTLY.
exports.config = { transaction: false };

exports.up = (knex) =>
  knex.schema.alterTable('orders', (t) => {
    t.index(['customer_id'], 'orders_customer_id_idx');
  });

exports.down = (knex) =>
  knex.schema.alterTable('orders', (t) => {
    t.dropIndex(['customer_id'], 'orders_customer_id_idx');
  });
