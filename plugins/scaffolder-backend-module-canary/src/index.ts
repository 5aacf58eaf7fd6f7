/**
 * The scaffolder action `canary:start` for Coalmine.
 *
 * @packageDocumentation
 */
export { scaffolderModuleCanary as default } from './module';
export { createCanaryStartAction } from './actions/canaryStart';
