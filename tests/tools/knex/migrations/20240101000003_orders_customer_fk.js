// Foreign key orders.customer_id -> customers.id, inside knex's transaction. schemagate
// rewrites it into ADD CONSTRAINT … NOT VALID, then VALIDATE CONSTRAINT once the brief lock
// is released. Fixed (for a proxy that refuses it in a transaction): non_transactional/.
exports.up = (knex) =>
  knex.schema.alterTable('orders', (t) => {
    t.foreign('customer_id', 'orders_customer_id_fkey').references('id').inTable('customers');
  });

exports.down = (knex) =>
  knex.schema.alterTable('orders', (t) => {
    t.dropForeign('customer_id', 'orders_customer_id_fkey');
  });
