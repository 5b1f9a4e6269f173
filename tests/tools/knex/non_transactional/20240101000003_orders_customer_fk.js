// Foreign key orders.customer_id -> customers.id outside knex's transaction: the NOT VALID
// and VALIDATE phases of schemagate's plan each commit on their own.
exports.config = { transaction: false };

exports.up = (knex) =>
  knex.schema.alterTable('orders', (t) => {
    t.foreign('customer_id', 'orders_customer_id_fkey').references('id').inTable('customers');
  });

exports.down = (knex) =>
  knex.schema.alterTable('orders', (t) => {
    t.dropForeign('customer_id', 'orders_customer_id_fkey');
  });
