// Reading the page's option fields: each value checked as it is read, and refused with a message
// that names the field.

export const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export const field = (id: string) => element<HTMLInputElement | HTMLSelectElement>(id);

/** The message of a refused input: the core's errors already name the input. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The field's text, trimmed; undefined when it is empty. */
export function optional(id: string): string | undefined {
  const value = field(id).value.trim();
  return value === '' ? undefined : value;
}

/** The field's number, at least `min` (and whole where asked); undefined when it is empty. */
export function numberField(
  id: string,
  label: string,
  whole: boolean,
  min: number,
): number | undefined {
  const text = optional(id);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || (whole && !Number.isInteger(value))) {
    throw new RangeError(
      `${label}: give ${whole ? 'a whole number' : 'a number'} of at least ${min}`,
    );
  }
  return value;
}

/** `text` parsed by `parse`, its refusal prefixed with the field's label. */
export function parsed<T>(label: string, parse: (text: string) => T, text: string): T {
  try {
    return parse(text);
  } catch (error) {
    throw new RangeError(`${label}: ${errorText(error)}`);
  }
}
