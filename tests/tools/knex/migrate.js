// `knex migrate:latest` through knex's own API (knex.migrate.latest, what the CLI calls), for
// one difference: on failure it prints the fields of the PostgreSQL error that the knex CLI
// drops. The CLI prints only the primary message, so its users never see schemagate's SQLSTATE
// or its HINT (which names the fix for knex). Usage: node migrate.js (env as for knexfile.js).
const config = require('./knexfile');
const knex = require('knex')(config);

knex.migrate
  .latest()
  .then(([batch, log]) => {
    console.log(log.length ? `Batch ${batch} ran the following migrations:\n${log.join('\n')}` : 'Already up to date');
  })
  .catch((err) => {
    console.error(`migration failed with error: ${err.message}`);
    if (err.code) console.error(`SQLSTATE: ${err.code}`);
    if (err.detail) console.error(`DETAIL: ${err.detail}`);
    if (err.hint) console.error(`HINT: ${err.hint}`);
    process.exitCode = 1;
  })
  .finally(() => knex.destroy());
