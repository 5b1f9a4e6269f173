// orders.note NOT NULL outside knex's transaction: schemagate's CHECK NOT VALID, VALIDATE,
// SET NOT NULL, DROP CONSTRAINT phases each commit on their own.
exports.config = { transaction: false };

exports.up = (knex) =>
  knex.schema.alterTable('orders', (t) => {
    t.dropNullable('note');
  });

exports.down = (knex) =>
  knex.schema.alterTable('orders', (t) => {
    t.setNullable('note');
  });
