import { PdcrError } from '../errors.ts';

/**
 * A faithfulness evaluation PdCR cannot run as asked: no method or curve named, a method named
 * twice, a count of draws or masks that is not a whole number, a removal without what it needs.
 */
export class FaithfulnessError extends PdcrError {
  override readonly name = 'FaithfulnessError';
}
