import {
  AuditorService,
  AuditorServiceEvent,
  BackstageCredentials,
  HttpAuthService,
} from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import express from 'express';
import { actorOf } from './actor';

/** What a control handler gets once the request is known to name a control. */
export interface ControlRequest<C extends string> {
  credentials: BackstageCredentials;
  control: C;
  /** The `rollout-control` audit event; the handler reports its success. */
  audit: AuditorServiceEvent;
}

/**
 * `POST /rollouts/:id/:control`, for Coalmine's own rollouts and for
 * Flagger's and Argo Rollouts': every attempt is audited as
 * `rollout-control` with its actor, rollout and control, an unknown control
 * is a 400 naming the known ones, and any failure is recorded on the audit
 * event before it is rethrown.
 */
export async function auditedControl<C extends string>(
  deps: { httpAuth: HttpAuthService; auditor: AuditorService },
  req: express.Request,
  controls: readonly C[],
  run: (request: ControlRequest<C>) => Promise<void>,
): Promise<void> {
  const credentials = await deps.httpAuth.credentials(req);
  const audit = await deps.auditor.createEvent({
    eventId: 'rollout-control',
    severityLevel: 'medium',
    request: req,
    meta: {
      actor: actorOf(credentials),
      rolloutId: req.params.id,
      control: req.params.control,
    },
  });
  try {
    const control = req.params.control as C;
    if (!controls.includes(control)) {
      throw new InputError(
        `path parameter control: unknown control "${
          req.params.control
        }"; use one of ${controls.join(', ')}`,
      );
    }
    await run({ credentials, control, audit });
  } catch (error) {
    await audit.fail({ error: error as Error });
    throw error;
  }
}
