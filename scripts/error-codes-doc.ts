import { ERROR_CODES } from '../src/errors.js';

// Writes docs/error-codes.md from the registry (src/errors.ts): npm run docs:errors.
// test/unit/error-registry.test.ts checks that the page is up to date.

export function errorCodesPage(): string {
  const rows = Object.entries(ERROR_CODES).map(([code, advice]) => `| \`${code}\` | ${advice.replace(/\|/g, '\\|')} |`);
  return `# Error codes

Every error usmp-edge reports carries one of these codes: on the command line
(\`usmp-edge: CODE: what was wrong — what to do\`, or \`{"error": {"code", …}}\` with \`--json\`),
in HTTP answers (\`{"error": {"code", "reason"}}\`) and in log lines (\`code\`). A code is never
renamed or reused; scripts and dashboards may match on it. This page is made from
\`src/errors.ts\` (\`npm run docs:errors\`).

| code | what to do |
|---|---|
${rows.join('\n')}
`;
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(errorCodesPage());
