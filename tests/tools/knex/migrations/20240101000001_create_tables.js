// customers and orders with enough rows that schemagate treats them as large (the test's
// policy says small_table_rows: 1000); ANALYZE gives the proxy's catalog query the row counts.
exports.up = async (knex) => {
  await knex.schema.createTable('customers', (t) => {
    t.bigInteger('id').primary();
    t.text('name').notNullable();
  });
  await knex.schema.createTable('orders', (t) => {
    t.bigInteger('id').primary();
    t.bigInteger('customer_id');
    t.text('note');
    t.integer('amount');
  });
  await knex.raw("INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 2000) g");
  await knex.raw("INSERT INTO orders SELECT g, 1 + g % 2000, 'order ' || g, g % 100 FROM generate_series(1, 20000) g");
  await knex.raw('ANALYZE customers, orders');
};

exports.down = async (knex) => {
  await knex.schema.dropTable('orders');
  await knex.schema.dropTable('customers');
};
