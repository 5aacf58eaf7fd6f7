export { startApiSandbox } from './sandbox';
export type { Sandbox, SandboxOptions } from './sandbox';
