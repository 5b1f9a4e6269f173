namespace schemagate::policy {}
