// `pnpm bench:calibration`: how often the fast preset's sequential sampling calls an effect that
// is not there, on effects known exactly. Not a test.
//
// Each run samples 100 units (blocks) in rounds of 4 with the same draws for every unit, as the
// fast preset does, and calls them by Benjamini-Hochberg at a false discovery rate of 5% on
// p-values that pay for every look. Each unit's effect per draw is taken from a pool of 1000
// values whose mean is set exactly, so that which calls are false is known. The least favourable
// null puts every mean exactly on the threshold (|ATE| = t: not an effect, and as near one as a
// null can be), with effects spread uniformly, normally (where the t tests are exact), as pixel
// flips in two draws of five or as rare flips; "mixed" adds 20 true effects at 3t, with the
// other 80 on the threshold or spread evenly across the dead zone. Rows: the default (16 draws,
// then extra draws where a projection says they could bring the unit to a call), no extra
// draws, and extra draws by the rule for blocks scored through the statistics route (on while
// the mean lies beyond t, up to their own longer horizon).
import { sampleSequentially } from '../src/estimation/sequential.ts';
import { routeExtraDraws } from '../src/estimation/fast.ts';
import { FAST_DEFAULTS, SeededRandom } from '../src/index.ts';

const THRESHOLD = FAST_DEFAULTS.threshold;
const ROUND = FAST_DEFAULTS.round;
const MAX_DRAWS = FAST_DEFAULTS.maxDraws;
const EXTRA_DRAWS = FAST_DEFAULTS.extraDrawFactor * MAX_DRAWS;
const FDR = FAST_DEFAULTS.falseDiscoveryRate;
const POOL = 1000;
const UNITS = 100;
const runsFlag = process.argv.indexOf('--runs');
const RUNS = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 200;
if (!(RUNS >= 1)) throw new Error('--runs takes a whole number of at least 1');

/** A pool of effects with the given shape, shifted to have exactly `mean`. */
function pool(shape: Shape, mean: number, random: SeededRandom): Float32Array {
  const uniform = () => (random.integer(1_000_000) + 0.5) / 1_000_000;
  const values = Array.from({ length: POOL }, (_, i) => {
    switch (shape) {
      case 'spread':
        // Uniform, standard deviation 0.03: a block whose patches move the Dice a little each.
        return 0.03 * Math.sqrt(12) * (uniform() - 0.5);
      case 'normal':
        // Normal, standard deviation 0.03 (Box-Muller): the t tests' own model.
        return 0.03 * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
      case 'rare':
        // Most draws change nothing, one in ten flips pixels: the Dice's own kind of effect.
        return i % 10 === 0 ? -10 * Math.abs(mean || THRESHOLD) : 0;
      case 'flips':
        // Two draws in five flip a pixel, each by the same amount, the others change nothing:
        // the nuclei maps' commonest kind of block, where four draws alike are not rare. Which
        // draws flip is each unit's own (shuffled below).
        return i < (2 * POOL) / 5 ? -2.5 * Math.abs(mean || THRESHOLD) : 0;
    }
  });
  if (shape === 'flips') {
    for (let i = POOL - 1; i > 0; i--) {
      const j = random.integer(i + 1);
      [values[i], values[j]] = [values[j]!, values[i]!];
    }
  }
  const shift = mean - values.reduce((sum, value) => sum + value, 0) / POOL;
  return Float32Array.from(values, (value) =>
    shape === 'rare' || shape === 'flips' ? value : value + shift,
  );
}

type Shape = 'spread' | 'normal' | 'rare' | 'flips';

interface Scenario {
  readonly name: string;
  readonly shape: Shape;
  /** Units with a true effect (mean -3t) come first. */
  readonly effects: number;
  /** Where the other units' means lie: all at -t, or evenly from -t to t. */
  readonly nulls: 'on the threshold' | 'across the dead zone';
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'all on the threshold, spread effects',
    shape: 'spread',
    effects: 0,
    nulls: 'on the threshold',
  },
  {
    name: 'all on the threshold, normal effects',
    shape: 'normal',
    effects: 0,
    nulls: 'on the threshold',
  },
  {
    name: 'all on the threshold, pixel flips',
    shape: 'flips',
    effects: 0,
    nulls: 'on the threshold',
  },
  {
    name: 'all on the threshold, rare flips',
    shape: 'rare',
    effects: 0,
    nulls: 'on the threshold',
  },
  {
    name: 'mixed: 20 effects at 3t, 80 on the threshold',
    shape: 'spread',
    effects: 20,
    nulls: 'on the threshold',
  },
  {
    name: 'mixed: 20 effects at 3t, 80 across the dead zone',
    shape: 'spread',
    effects: 20,
    nulls: 'across the dead zone',
  },
];

/** The mean of unit `unit`'s effect in `scenario`. */
function meanOf(scenario: Scenario, unit: number): number {
  if (unit < scenario.effects) return -3 * THRESHOLD;
  if (scenario.nulls === 'on the threshold') return -THRESHOLD;
  const nulls = UNITS - scenario.effects;
  return -THRESHOLD + (2 * THRESHOLD * (unit - scenario.effects)) / (nulls - 1);
}

type Variant = 'default' | 'no extra draws' | 'route rule';
const VARIANTS: readonly Variant[] = ['default', 'no extra draws', 'route rule'];

function sample(pools: readonly Float32Array[], seed: number, variant: Variant) {
  const units = pools.map((_, unit) => unit);
  return sampleSequentially({
    units,
    poolSize: POOL,
    threshold: THRESHOLD,
    round: ROUND,
    maxDraws: MAX_DRAWS,
    ...(variant === 'default' || variant === 'route rule' ? { extraDraws: EXTRA_DRAWS } : {}),
    ...(variant === 'route rule'
      ? { inexpensive: new Set(units), inexpensiveExtraDraws: routeExtraDraws(EXTRA_DRAWS) }
      : {}),
    falseDiscoveryRate: FDR,
    random: new SeededRandom(seed),
    runRound: (active, draws, tallies) => {
      for (const unit of active) {
        for (const draw of draws) {
          // The same draw for every unit, each unit's own value of it.
          const effect = pools[unit]![(draw * 7 + unit * 131) % POOL]!;
          tallies.get(unit)!.add(1, effect, effect * effect);
        }
      }
      return Promise.resolve(true);
    },
  });
}

const rows: string[] = [];
for (const scenario of SCENARIOS) {
  const random = new SeededRandom(99);
  const pools = Array.from({ length: UNITS }, (_, unit) =>
    pool(scenario.shape, meanOf(scenario, unit), random),
  );
  for (const variant of VARIANTS) {
    let runsWithFalse = 0;
    let falseShare = 0;
    let falseCalls = 0;
    let trueCalls = 0;
    let draws = 0;
    for (let seed = 0; seed < RUNS; seed++) {
      const outcome = await sample(pools, seed, variant);
      const called = outcome.significant;
      const wrong = [...called].filter((unit) => unit >= scenario.effects).length;
      runsWithFalse += wrong > 0 ? 1 : 0;
      falseShare += called.size > 0 ? wrong / called.size : 0;
      falseCalls += wrong;
      trueCalls += called.size - wrong;
      for (const tally of outcome.tallies.values()) draws += tally.count;
    }
    const nulls = UNITS - scenario.effects;
    const percent = (share: number, digits = 1) => `${(100 * share).toFixed(digits)}%`;
    const effectsCalled =
      scenario.effects > 0 ? percent(trueCalls / (RUNS * scenario.effects)) : '-';
    rows.push(
      `| ${scenario.name} | ${variant} | ${percent(falseShare / RUNS)} | ` +
        `${percent(runsWithFalse / RUNS)} | ${percent(falseCalls / (RUNS * nulls), 2)} | ` +
        `${effectsCalled} | ${(draws / (RUNS * UNITS)).toFixed(1)} |`,
    );
  }
}

console.log(
  `fast's calls on effects known exactly: ${UNITS} units, rounds of ${ROUND}, ${MAX_DRAWS} draws ` +
    `(+${EXTRA_DRAWS} extra; +${routeExtraDraws(EXTRA_DRAWS)} under the route rule), ` +
    `threshold ${THRESHOLD}, FDR ${100 * FDR}%, ${RUNS} runs`,
);
console.log('');
console.log(
  '| scenario | calls | FDR (mean false share of calls) | runs with a false call | ' +
    'nulls called | effects called | draws per unit |',
);
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
for (const row of rows) console.log(row);
