// Validates a GraphQL document against GitHub's published schema
// (@octokit/graphql-schema's introspection JSON) with graphql-js.
// Usage: node graphql-validate.mjs QUERY_FILE
// Exit 0 when valid; else prints each error and exits 1.
import { readFileSync } from "node:fs";
import { schema } from "@octokit/graphql-schema";
import { buildClientSchema, parse, validate } from "graphql";

const errors = validate(buildClientSchema(schema.json), parse(readFileSync(process.argv[2], "utf8")));
for (const e of errors) console.log(e.message);
process.exit(errors.length ? 1 : 0);
