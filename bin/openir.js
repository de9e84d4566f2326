#!/usr/bin/env node
'use strict';
// Thin launcher: the CLI is compiled to dist/ by `npm run build`.
const { main } = require('../dist/cli/main.js');
const { exitAfterFlush } = require('./exit.js');
main(process.argv.slice(2)).then(
  (code) => exitAfterFlush(code),
  (error) => {
    process.stderr.write(`openir: ${error && error.message ? error.message : error}\n`);
    exitAfterFlush(1);
  },
);
