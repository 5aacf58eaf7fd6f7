import type { CanaryApi } from '../api';
import { details, series, status } from './fixtures';

/** Replacements for some methods, as plain jest mocks. */
export type CanaryApiOverrides = { [K in keyof CanaryApi]?: jest.Mock };

/** A CanaryApi whose every method is a jest mock with sensible answers. */
export function fakeCanaryApi(
  overrides: CanaryApiOverrides = {},
): jest.Mocked<CanaryApi> {
  const defaults = {
    getEntityStatus: jest.fn(async () => status()),
    listRollouts: jest.fn(async () => status().history),
    getRollout: jest.fn(async () => details()),
    getRolloutEvents: jest.fn(async () => ({ items: [], cursor: null })),
    getRolloutAnalysis: jest.fn(async () => ({ items: [], cursor: null })),
    getRolloutSeries: jest.fn(async () => series),
    startRollout: jest.fn(),
    controlRollout: jest.fn(),
  };
  return { ...defaults, ...overrides } as unknown as jest.Mocked<CanaryApi>;
}
