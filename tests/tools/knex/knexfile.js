// The knex project that tests/integration/migration_tools_test.cc runs through an enforcing
// schemagate. The connection comes from the libpq-style environment variables:
//   PGHOST=127.0.0.1 PGPORT=6432 PGUSER=postgres PGDATABASE=app PGAPPNAME=knex npx --no knex migrate:latest
// application_name matters: knex does not set one, and it is how schemagate knows that the
// SG005 hint should name knex (without it the hint lists every tool's switch).
//
// migrations/ holds the migrations as first written (knex runs each in a transaction, and a
// `migrate:latest` whose migrations all use one runs the whole batch in ONE transaction);
// non_transactional/ holds the same files fixed the way the SG005 hint says
// (`exports.config = { transaction: false }`).
module.exports = {
  client: 'pg',
  connection: {
    host: process.env.PGHOST || '127.0.0.1',
    port: Number(process.env.PGPORT || 6432),
    user: process.env.PGUSER || 'postgres',
    password: process.env.PGPASSWORD,
    database: process.env.PGDATABASE || 'app',
    application_name: process.env.PGAPPNAME,
  },
  pool: { min: 0, max: 2 },
  migrations: {
    directory: process.env.KNEX_MIGRATIONS_DIR || './migrations',
  },
};
