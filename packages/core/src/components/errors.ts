import { PdcrError } from '../errors.ts';

/**
 * A component analysis PdCR cannot run as asked: a selection that matches no component, a
 * granularity or intervention it does not know, natural samples it cannot take.
 */
export class ComponentError extends PdcrError {
  override readonly name = 'ComponentError';
}
