// orders.note NOT NULL, inside knex's transaction. schemagate rewrites SET NOT NULL into a
// CHECK (note IS NOT NULL) NOT VALID, VALIDATE, SET NOT NULL (no scan) and DROP CONSTRAINT.
// Fixed (for a proxy that refuses it in a transaction): non_transactional/.
exports.up = (knex) =>
  knex.schema.alterTable('orders', (t) => {
    t.dropNullable('note');
  });

exports.down = (knex) =>
  knex.schema.alterTable('orders', (t) => {
    t.setNullable('note');
  });
