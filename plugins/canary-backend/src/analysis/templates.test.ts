import { parser } from '@prometheus-io/lezer-promql';
import { builtinTemplateSpecs, TemplateRegistry } from './builtinTemplates';
import {
  CompiledQuery,
  MetricTemplate,
  TemplateError,
  templateValues,
  TemplateTarget,
} from './templates';
import {
  escapePromQLString,
  findPromQLError,
  isPromQLDuration,
  promQLDurationMs,
} from './promql';

const target: TemplateTarget = {
  namespace: 'shop',
  service: 'checkout',
  route: 'checkout',
  canary: { name: 'checkout-canary', version: 'v2' },
  stable: { name: 'checkout', version: 'v1' },
};

/** The string literal values of every label matcher in a parsed query. */
function matcherValues(query: string): Array<{ label: string; value: string }> {
  const out: Array<{ label: string; value: string }> = [];
  const tree = parser.parse(query);
  tree.iterate({
    enter(node) {
      if (node.name === 'UnquotedLabelMatcher') {
        const label = node.node.getChild('LabelName');
        const value = node.node.getChild('StringLiteral');
        if (label && value) {
          out.push({
            label: query.slice(label.from, label.to),
            value: query.slice(value.from, value.to),
          });
        }
      }
    },
  });
  return out;
}

/** Go-style unquoting, as Prometheus reads a double-quoted string. */
function unquote(literal: string): string {
  return JSON.parse(literal.replace(/\\u00/g, '\\u00'));
}

function thrownBy(fn: () => unknown): TemplateError | undefined {
  try {
    fn();
  } catch (e) {
    return e as TemplateError;
  }
  return undefined;
}

describe('PromQL parsing', () => {
  it('parses a query once, and reports an error every time it is asked', () => {
    const parse = jest.spyOn(parser, 'parse');
    const query = 'sum(rate(parsed_once_total{app="a"}[1m]))';
    expect(findPromQLError(query)).toBeUndefined();
    expect(findPromQLError(query)).toBeUndefined();
    expect(parse).toHaveBeenCalledTimes(1);
    const broken = 'sum(rate(parsed_once_total{app="a"}[1m])';
    expect(findPromQLError(broken)).toBeDefined();
    expect(findPromQLError(broken)).toBe(findPromQLError(broken));
    expect(parse).toHaveBeenCalledTimes(4);
    parse.mockRestore();
  });
});

describe('PromQL escaping', () => {
  it('escapes quotes, backslashes and control characters', () => {
    expect(escapePromQLString('a"b\\c')).toBe('a\\"b\\\\c');
    expect(escapePromQLString("it's", "'")).toBe("it\\'s");
    expect(escapePromQLString('line\nbreak\u0001')).toBe('line\\nbreak\\u0001');
  });

  it.each([
    'a"b\\c',
    'x"}or vector(1)#',
    'x"} or vector(1) or up{a="',
    '\\"} + 1 #',
    'new\nline"}',
    '`raw`',
  ])('keeps %j inside its label value', hostile => {
    const query = new CompiledQuery(
      't',
      'sum(rate(http_requests_total{namespace="{{ namespace }}",pod=~"{{ workload }}-[a-z0-9]+"}[{{ interval }}]))',
    ).render({ namespace: hostile, workload: hostile, interval: '1m' });
    expect(findPromQLError(query)).toBeUndefined();
    const values = matcherValues(query);
    expect(values.map(v => v.label)).toEqual(['namespace', 'pod']);
    expect(unquote(values[0].value)).toBe(hostile);
    // No operator, function or selector appeared outside the matchers.
    expect(query.replace(/"(\\.|[^"\\])*"/g, '""')).toBe(
      'sum(rate(http_requests_total{namespace="",pod=~""}[1m]))',
    );
  });

  it('escapes regular expression characters in regex matchers', () => {
    const query = new CompiledQuery(
      't',
      'up{pod=~"{{ workload }}-[a-z]+"}',
    ).render({
      workload: 'a.b|c',
    });
    expect(query).toBe('up{pod=~"a\\\\.b\\\\|c-[a-z]+"}');
  });

  it('validates durations', () => {
    expect(isPromQLDuration('1h30m')).toBe(true);
    expect(isPromQLDuration('90s')).toBe(true);
    expect(isPromQLDuration('5')).toBe(false);
    expect(isPromQLDuration('1m]) or vector(1)')).toBe(false);
    expect(promQLDurationMs('1h30m')).toBe(5_400_000);
    expect(promQLDurationMs('1d2h')).toBe(26 * 3_600_000);
    expect(promQLDurationMs('500ms')).toBe(500);
    // Config durations allow decimals; PromQL's do not.
    expect(() => promQLDurationMs('1.5m')).toThrow(/not a PromQL duration/);
    expect(() => promQLDurationMs('90')).toThrow(/not a PromQL duration/);
    const q = new CompiledQuery('t', 'rate(x[{{ interval }}])');
    expect(() => q.render({ interval: '1m]) or vector(1) #' })).toThrow(
      /PromQL duration/,
    );
    expect(q.render({ interval: '2m' })).toBe('rate(x[2m])');
  });
});

describe('template compilation', () => {
  it('rejects a template that does not parse, with line and column', () => {
    const source = 'sum(rate(x{a="{{ namespace }}"}[{{ interval }}])\n  / sum(';
    const error = thrownBy(() => new CompiledQuery('broken', source));
    expect(error).toBeInstanceOf(TemplateError);
    expect(error!.position).toEqual({
      offset: source.indexOf('\n') + 9,
      line: 2,
      column: 9,
    });
    expect(error!.message).toMatch(/template "broken" at line 2, column 9/);
  });

  it('maps the error position back past rendered placeholders', () => {
    expect(
      () => new CompiledQuery('t', 'up{namespace="{{ namespace }}"} +* 2'),
    ).toThrow(/line 1, column 3[45]/);
  });

  it('rejects placeholders outside quotes except durations', () => {
    expect(
      () => new CompiledQuery('t', 'up{namespace={{ namespace }}}'),
    ).toThrow(
      /line 1, column 14: placeholder \{\{ namespace \}\} must sit inside a quoted label value/,
    );
    expect(() => new CompiledQuery('t', 'up{a=`{{ namespace }}`}')).toThrow(
      /backtick/,
    );
    expect(() => new CompiledQuery('t', 'up{a="{{ namespace"}')).toThrow(
      /placeholder is written/,
    );
    expect(() => new CompiledQuery('t', 'up{a="x"}}}')).toThrow(/stray/);
    expect(() => new CompiledQuery('t', 'up{a="x}')).toThrow(/unterminated/);
  });

  it('reports a missing value', () => {
    const q = new CompiledQuery('t', 'up{le="{{ le }}"}');
    expect(() => q.render({})).toThrow(/no value for template variable "le"/);
  });

  it('renders custom application and business templates', () => {
    const registry = new TemplateRegistry({
      'database-errors': {
        query:
          'sum(rate(db_query_errors_total{namespace="{{ namespace }}",version="{{ version }}"}[{{ interval }}]))',
        unit: '1/s',
      },
      conversion: {
        query:
          'sum(rate(checkout_completed_total{namespace="{{ namespace }}",version="{{ version }}"}[{{ interval }}])) / sum(rate(checkout_started_total{namespace="{{ namespace }}",version="{{ version }}"}[{{ interval }}])) * 100',
        unit: '%',
      },
    });
    const values = templateValues(target, 'canary', { interval: '5m' });
    expect(
      registry.get('database-errors', 'istio').render('canary', values),
    ).toBe(
      'sum(rate(db_query_errors_total{namespace="shop",version="v2"}[5m]))',
    );
    expect(
      registry
        .get('conversion', 'istio')
        .render('stable', templateValues(target, 'stable', { interval: '5m' })),
    ).toContain('checkout_started_total{namespace="shop",version="v1"}[5m]');
  });

  it('rejects a broken custom template at start-up', () => {
    expect(
      () =>
        new TemplateRegistry({ bad: { query: 'sum(rate(x[{{ interval }}])' } }),
    ).toThrow(TemplateError);
    expect(() => new TemplateRegistry({ bad: {} })).toThrow(/needs `query`/);
  });
});

describe('built-in templates', () => {
  const registry = new TemplateRegistry();
  const specs = builtinTemplateSpecs();

  it.each(Object.keys(specs))('%s renders for both arms and parses', name => {
    const template = new MetricTemplate(name, specs[name]);
    for (const arm of ['canary', 'stable'] as const) {
      const query = template.render(
        arm,
        templateValues(
          target,
          arm,
          { interval: '1m', elapsed: '754s' },
          { le: '500' },
        ),
      );
      expect(findPromQLError(query)).toBeUndefined();
      expect(query).not.toContain('{{');
    }
  });

  it('selects each arm the way the exported series are labelled', () => {
    const canary = templateValues(target, 'canary', {
      interval: '1m',
      elapsed: '10m',
    });
    const stable = templateValues(target, 'stable', {
      interval: '1m',
      elapsed: '10m',
    });
    expect(registry.get('error-count', 'istio').render('canary', canary)).toBe(
      'sum(increase(istio_requests_total{reporter="destination",destination_workload_namespace="shop",destination_workload="checkout-canary",response_code=~"5.."}[10m]))',
    );
    expect(registry.get('request-count', 'http').render('stable', stable)).toBe(
      'sum(increase(http_requests_total{namespace="shop",pod=~"checkout-[a-z0-9]+-[a-z0-9]+"}[10m]))',
    );
    expect(
      registry.get('request-count', 'nginx').render('canary', canary),
    ).toContain('canary!=""');
    expect(
      registry.get('request-count', 'nginx').render('stable', stable),
    ).toContain('canary=""');
    expect(
      registry.get('error-count', 'linkerd').render('canary', canary),
    ).toContain(
      'deployment="checkout-canary",direction="inbound",classification="failure"',
    );
    expect(
      registry.get('request-duration', 'http').render('canary', canary),
    ).toMatch(
      /^histogram_quantile\(0\.99, .*http_request_duration_seconds_bucket.*\* 1000$/,
    );
    expect(
      registry.get('pod-restarts', 'istio').render('canary', canary),
    ).toContain(
      'kube_pod_container_status_restarts_total{namespace="shop",pod=~"checkout-canary-[a-z0-9]+-[a-z0-9]+"}',
    );
  });

  it('lets a custom template override a built-in name and refuses unknown ones', () => {
    const custom = new TemplateRegistry({
      'request-duration': { query: 'sum(up{namespace="{{ namespace }}"})' },
    });
    expect(
      custom
        .get('request-duration', 'istio')
        .render('canary', templateValues(target, 'canary', { interval: '1m' })),
    ).toBe('sum(up{namespace="shop"})');
    expect(custom.get('istio/request-duration', 'http').name).toBe(
      'istio/request-duration',
    );
    expect(() => registry.get('nope', 'istio')).toThrow(
      /unknown metric template "nope"/,
    );
  });
});
