import {
  SelectorParseError,
  matchesRequirements,
  matchesSelectorObject,
  parseLabelSelector,
  selectorObjectToString,
} from './labelSelector';

const matches = (selector: string, labels: Record<string, string>) =>
  matchesRequirements(parseLabelSelector(selector), labels);

describe('label selectors', () => {
  it('matches equality, set-based and existence requirements', () => {
    const labels = {
      app: 'checkout',
      version: 'v2',
      'example.com/tier': 'web',
    };
    expect(matches('', labels)).toBe(true);
    expect(matches('app=checkout', labels)).toBe(true);
    expect(matches('app==checkout,version=v1', labels)).toBe(false);
    expect(matches('version!=v1', labels)).toBe(true);
    expect(matches('version in (v1, v2)', labels)).toBe(true);
    expect(matches('version notin (v2)', labels)).toBe(false);
    expect(matches('missing notin (x)', labels)).toBe(true);
    expect(matches('example.com/tier', labels)).toBe(true);
    expect(matches('!example.com/tier', labels)).toBe(false);
    expect(matches('!track,app in (checkout)', labels)).toBe(true);
    // An empty value is valid: it matches an empty label.
    expect(matches('app=', { app: '' })).toBe(true);
  });

  it.each([
    'app in (x',
    'app in x',
    '=x',
    'app=x,',
    'app>1',
    'a b',
    'app=has space',
    '-bad=x',
  ])('rejects %p like the API server', selector => {
    expect(() => parseLabelSelector(selector)).toThrow(SelectorParseError);
  });

  it('evaluates LabelSelector objects from specs', () => {
    const selector = {
      matchLabels: { app: 'search' },
      matchExpressions: [
        { key: 'version', operator: 'In', values: ['stable', 'canary'] },
        { key: 'debug', operator: 'DoesNotExist' },
      ],
    };
    expect(
      matchesSelectorObject(selector, { app: 'search', version: 'canary' }),
    ).toBe(true);
    expect(
      matchesSelectorObject(selector, {
        app: 'search',
        version: 'canary',
        debug: '1',
      }),
    ).toBe(false);
    expect(selectorObjectToString(selector)).toBe(
      'app=search,version in (stable,canary),!debug',
    );
  });
});
