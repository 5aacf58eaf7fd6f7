import { responseError } from '../__testUtils__/fixtures';
import { describeError } from './errors';

describe('describeError', () => {
  it('shows the server reason with the status', async () => {
    const error = await responseError(
      409,
      'Conflict',
      'ConflictError',
      'only a paused rollout can resume',
    );
    expect(describeError(error)).toBe(
      'only a paused rollout can resume (409 Conflict)',
    );
  });

  it('falls back to the message of anything else', () => {
    expect(describeError(new Error('Failed to fetch'))).toBe('Failed to fetch');
    expect(describeError('boom')).toBe('boom');
  });
});
