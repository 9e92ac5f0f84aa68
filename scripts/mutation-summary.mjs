// Summarises Stryker's JSON report (reports/mutation/mutation.json, or the path given) as
// docs/mutation/ records it: per file, mutants killed by an assertion, hangs (Stryker timeouts and
// kills by the jest timeout), survivors and uncovered mutants, then each mutant not killed by an
// assertion with its line and replacement. See docs/mutation/README.md.
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync(process.argv[2] ?? 'reports/mutation/mutation.json', 'utf8'));
const total = { mutants: 0, assertion: 0, hang: 0, survived: 0, noCoverage: 0, errors: 0 };
const percent = (part, whole) => `${((100 * part) / whole).toFixed(1)} %`;

for (const [file, { mutants, source }] of Object.entries(report.files).sort()) {
  const lines = source.split('\n');
  const count = { mutants: mutants.length, assertion: 0, hang: 0, survived: 0, noCoverage: 0, errors: 0 };
  const left = [];
  for (const mutant of mutants) {
    let status = mutant.status;
    if (status === 'Killed' && /Exceeded timeout/.test(mutant.statusReason ?? ''))
      status = 'KilledByJestTimeout';
    if (status === 'Killed') count.assertion += 1;
    else if (status === 'Timeout' || status === 'KilledByJestTimeout') count.hang += 1;
    else if (status === 'Survived') count.survived += 1;
    else if (status === 'NoCoverage') count.noCoverage += 1;
    else count.errors += 1;
    if (status === 'Killed') continue;
    const line = mutant.location.start.line;
    const code = lines[line - 1].trim().slice(0, 100);
    left.push([
      status,
      line,
      `  ${file.split('/').pop()}:${line} [${status}] ${mutant.mutatorName}: ${code} => ${JSON.stringify((mutant.replacement ?? '').slice(0, 70))}`,
    ]);
  }
  for (const key of Object.keys(total)) total[key] += count[key];
  console.log(
    `${file}: ${count.mutants} mutants, killed by an assertion ${count.assertion} (${percent(count.assertion, count.mutants)}), ` +
      `hang ${count.hang}, survived ${count.survived}, no coverage ${count.noCoverage}, errors ${count.errors}`,
  );
  left.sort((a, b) => a[0].localeCompare(b[0]) || a[1] - b[1]).forEach(([, , text]) => console.log(text));
}
if (Object.keys(report.files).length > 1)
  console.log(
    `TOTAL ${total.mutants}: killed by an assertion ${total.assertion} (${percent(total.assertion, total.mutants)}), ` +
      `hang ${total.hang}, survived ${total.survived}, no coverage ${total.noCoverage}, errors ${total.errors}`,
  );
