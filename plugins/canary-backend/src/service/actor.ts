import { BackstageCredentials } from '@backstage/backend-plugin-api';

/** The user or service that made the request, as recorded in `startedBy` and events. */
export function actorOf(credentials: BackstageCredentials): string {
  const p = credentials.principal as {
    type: string;
    userEntityRef?: string;
    subject?: string;
  };
  if (p.type === 'user' && p.userEntityRef) return p.userEntityRef;
  if (p.type === 'service' && p.subject) return p.subject;
  return 'unknown';
}
