import { SignInPage } from '@backstage/core-components';
import {
  SignInPageBlueprint,
} from '@backstage/plugin-app-react';
import { createFrontendModule } from '@backstage/frontend-plugin-api';

/**
 * Guest sign-in for the local demo: the backend's guest provider issues a
 * token for `user:development/guest`, which owns the demo components.
 */
const guestSignInPage = SignInPageBlueprint.make({
  params: {
    loader: async () => props =>
      <SignInPage {...props} providers={['guest']} title="Coalmine demo" />,
  },
});

export const signInModule = createFrontendModule({
  pluginId: 'app',
  extensions: [guestSignInPage],
});
