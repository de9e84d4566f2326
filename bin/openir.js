#!/usr/bin/env node
'use strict';
// Thin launcher: the CLI is compiled to dist/ by `npm run build`.
const { main } = require('../dist/cli/main.js');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`openir: ${error && error.message ? error.message : error}\n`);
    process.exit(1);
  },
);
