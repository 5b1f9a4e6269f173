// orders.token: a uuid per row, NOT NULL, default gen_random_uuid(), inside knex's transaction.
// A volatile default rewrites the table under ACCESS EXCLUSIVE; schemagate adds the column
// without it, backfills in batches and sets NOT NULL through a validated CHECK. The backfill
// cannot run in a transaction block: SG005 here. Fixed: non_transactional/ (same name).
exports.up = (knex) =>
  knex.schema.alterTable('orders', (t) => {
    t.uuid('token').notNullable().defaultTo(knex.raw('gen_random_uuid()'));
  });

exports.down = (knex) =>
  knex.schema.alterTable('orders', (t) => {
    t.dropColumn('token');
  });
