/*
 * The Coalmine demo backend: catalog, guest sign-in, permissions with the
 * demo policy, and the canary plugin. Installing Coalmine into another
 * Backstage backend is the single `backend.add(...)` line for the canary
 * plugin below.
 */
import { createBackend } from '@backstage/backend-defaults';

const backend = createBackend();

backend.add(import('@backstage/plugin-app-backend'));

backend.add(import('@backstage/plugin-auth-backend'));
backend.add(import('@backstage/plugin-auth-backend-module-guest-provider'));

backend.add(import('@backstage/plugin-catalog-backend'));

backend.add(import('@backstage/plugin-permission-backend'));
backend.add(import('./modules/permissionPolicy'));

// Live updates pushed to open Canary tabs (optional: without it the tab polls).
backend.add(import('@backstage/plugin-signals-backend'));

backend.add(import('@coalmine/backstage-plugin-canary-backend'));

backend.start();
