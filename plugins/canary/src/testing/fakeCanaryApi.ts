import type { CanaryApi } from '../api';
import { details, series, status } from './fixtures';

/** A CanaryApi whose every method is a jest mock with sensible answers. */
export function fakeCanaryApi(
  overrides: Partial<jest.Mocked<CanaryApi>> = {},
): jest.Mocked<CanaryApi> {
  return {
    getEntityStatus: jest.fn(async () => status()),
    listRollouts: jest.fn(async () => status().history),
    getRollout: jest.fn(async () => details()),
    getRolloutSeries: jest.fn(async () => series),
    startRollout: jest.fn(),
    controlRollout: jest.fn(),
    ...overrides,
  };
}
