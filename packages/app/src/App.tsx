import { createApp } from '@backstage/frontend-defaults';
import catalogPlugin from '@backstage/plugin-catalog/alpha';
import { navModule } from './modules/nav';
import { signInModule } from './modules/signIn';

/**
 * The demo app: the catalog and, through feature discovery
 * (`app.packages: all`), the Canary plugin's /alpha extensions.
 */
export default createApp({
  features: [catalogPlugin, navModule, signInModule],
});
