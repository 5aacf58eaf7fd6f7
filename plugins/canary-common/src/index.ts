/**
 * Types, permissions and annotation names shared by the Coalmine canary plugins.
 *
 * @packageDocumentation
 */
export * from './annotations';
export * from './permissions';
export * from './types';
export * from './controls';
export * from './signals';
