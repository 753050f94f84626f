// The component analysis on the page: its own option fields, and the ranking of its result as a
// table under the map.
import {
  COMPONENT_DEFAULTS,
  type ComponentAnalysisResult,
  type ComponentGranularity,
  type ComponentIntervention,
} from '@pdcr/core';
import { field, numberField, optional } from './fields.ts';
import type { ComponentsRequest } from './protocol.ts';

/** The options only a component analysis has: what it ranks and how it replaces a component. */
export type ComponentOptions = Pick<
  ComponentsRequest,
  'select' | 'granularity' | 'intervention' | 'naturalCount' | 'samples' | 'round' | 'threshold'
>;

/** Shows the analysis's defaults in its empty fields, from the core's own constants. */
export function showComponentDefaults(): void {
  const defaults: Record<string, number> = {
    'opt-component-samples': COMPONENT_DEFAULTS.maxDraws,
    'opt-component-round': COMPONENT_DEFAULTS.round,
    'opt-component-threshold': COMPONENT_DEFAULTS.threshold,
  };
  for (const [id, value] of Object.entries(defaults)) {
    (field(id) as HTMLInputElement).placeholder = String(value);
  }
}

/**
 * Reads the component fields; throws a RangeError naming the field that is refused. The pattern
 * is checked by the analysis itself, which names it when it is not one or matches nothing.
 */
export function componentOptions(): ComponentOptions {
  const select = optional('opt-select');
  return {
    ...(select !== undefined ? { select } : {}),
    granularity: field('opt-granularity').value as ComponentGranularity,
    intervention: field('opt-intervention').value as ComponentIntervention,
    naturalCount:
      numberField('opt-natural-count', 'natural samples', true, 1) ??
      COMPONENT_DEFAULTS.naturalSamples,
    ...defined('samples', numberField('opt-component-samples', 'most draws', true, 2)),
    ...defined('round', numberField('opt-component-round', 'draws per round', true, 1)),
    ...defined('threshold', numberField('opt-component-threshold', 'threshold', false, 0)),
  };
}

/** `{ [key]: value }`, or nothing where the field was left empty (the analysis's default). */
function defined<K extends string>(key: K, value: number | undefined) {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]: number });
}

const number = (value: number) => value.toFixed(3);

/** The ranked components as a table: rank, component, operator, ATE, interval, n, significant. */
export class ComponentTable {
  constructor(private readonly table: HTMLTableElement) {}

  show(result: ComponentAnalysisResult): void {
    const header = document.createElement('tr');
    for (const title of ['rank', 'component', 'op', 'ATE', '95% interval', 'n', 'significant']) {
      const cell = document.createElement('th');
      cell.scope = 'col';
      cell.textContent = title;
      header.append(cell);
    }
    const rows = result.components.map((effect, index) => {
      const row = document.createElement('tr');
      row.className = effect.significant ? 'significant' : '';
      const cells = [
        String(index + 1),
        effect.component,
        effect.operator,
        number(effect.ate),
        `[${number(effect.ciLow)}, ${number(effect.ciHigh)}]`,
        String(effect.n),
        effect.significant ? 'yes' : 'no',
      ];
      for (const text of cells) {
        const cell = document.createElement('td');
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    });
    const caption = document.createElement('caption');
    caption.textContent =
      `Components (${result.granularity}s, ${result.intervention}) by their effect on the RoI's ` +
      `Dice, in percentage points; base Dice ${result.baseScore.toFixed(2)} %.`;
    const head = document.createElement('thead');
    head.append(header);
    const body = document.createElement('tbody');
    body.append(...rows);
    this.table.replaceChildren(caption, head, body);
    this.table.hidden = false;
  }

  clear(): void {
    this.table.replaceChildren();
    this.table.hidden = true;
  }
}

/** The status line of a finished (or cancelled) component analysis. */
export function componentSummary(result: ComponentAnalysisResult): string {
  const rate = result.forwardPasses / Math.max(result.seconds, 1e-9);
  const significant = result.components.filter((effect) => effect.significant).length;
  return (
    `${result.complete ? 'Done' : 'Cancelled'}: ${result.forwardPasses} forward passes in ` +
    `${result.seconds.toFixed(1)} s (${rate.toFixed(1)} per second) on ${result.backend}; ` +
    `base Dice ${result.baseScore.toFixed(2)} % (effects are in percentage points); ` +
    `${significant} of ${result.components.length} ` +
    `components significant${result.complete ? '' : ' (those finished)'}.`
  );
}
