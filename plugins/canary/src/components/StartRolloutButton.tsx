import { useState } from 'react';
import { useApi } from '@backstage/core-plugin-api';
import { MenuItem, TextField } from '@material-ui/core';
import PlayArrowIcon from '@material-ui/icons/PlayArrow';
import {
  CanaryTarget,
  Rollout,
  StartRolloutRequest,
  canaryRolloutCreatePermission,
} from '@coalmine/backstage-plugin-canary-common';
import { canaryApiRef } from '../api';
import { useCanaryPermission } from '../hooks/useCanaryPermission';
import { ConfirmActionDialog } from './ConfirmActionDialog';
import { PermissionedButton } from './PermissionedButton';

/** An image reference has no whitespace; everything else the cluster judges. */
function imageProblem(image: string): string | undefined {
  return /\s/.test(image) ? 'An image reference has no spaces.' : undefined;
}

/** The version becomes a Kubernetes label value, so it must be one. */
function versionProblem(version: string): string | undefined {
  if (!version) {
    return undefined;
  }
  return version.length <= 63 &&
    /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(version)
    ? undefined
    : 'Letters, digits, "-", "_" and "." only, starting and ending with a letter or digit, at most 63 characters.';
}

/**
 * Starts a rollout of the component, optionally with a new canary image,
 * after saying what will happen.
 */
export function StartRolloutButton(props: {
  target: CanaryTarget;
  onDone: (message: string, result: Rollout) => void;
}) {
  const { target, onDone } = props;
  const canaryApi = useApi(canaryApiRef);
  const permission = useCanaryPermission(canaryRolloutCreatePermission);
  const [open, setOpen] = useState(false);
  const [image, setImage] = useState('');
  const [version, setVersion] = useState('');
  const [cluster, setCluster] = useState(target.clusters[0] ?? '');
  const problem = imageProblem(image.trim());
  const badVersion = versionProblem(version.trim());
  const schedule = target.steps.map(step => `${step.weight} %`).join(' → ');

  return (
    <>
      <PermissionedButton
        id="canary-control-start"
        label="Start"
        color="primary"
        variant="contained"
        startIcon={<PlayArrowIcon />}
        permission={permission}
        onClick={() => {
          setImage('');
          setVersion('');
          setOpen(true);
        }}
      />
      <ConfirmActionDialog
        open={open}
        title="Start a canary rollout?"
        description={
          <>
            Coalmine will shift traffic of <strong>{target.workload}</strong> in{' '}
            {target.namespace} to the canary step by step ({schedule}) with the
            policy "{target.policy}", judge the canary against the stable
            version between steps, and roll it back by itself when a gate fails.
            Leave the image empty to roll out the canary workload as it is
            deployed now.
          </>
        }
        confirmDisabled={Boolean(problem || badVersion)}
        onCancel={() => setOpen(false)}
        onConfirm={async () => {
          const request: StartRolloutRequest = { entityRef: target.entityRef };
          if (image.trim()) {
            request.image = image.trim();
          }
          if (version.trim()) {
            request.version = version.trim();
          }
          if (cluster) {
            request.cluster = cluster;
          }
          const result = await canaryApi.startRollout(request);
          setOpen(false);
          onDone(
            `Rollout started on ${result.cluster}: ${
              result.steps[0]?.weight ?? 0
            } % of the traffic goes to the canary first.`,
            result,
          );
        }}
      >
        <TextField
          id="canary-start-image"
          label="New canary image (optional)"
          placeholder="registry.example.com/team/app:1.4.0"
          value={image}
          onChange={e => setImage(e.target.value)}
          error={Boolean(problem)}
          helperText={problem}
          fullWidth
          margin="dense"
        />
        <TextField
          id="canary-start-version"
          label="Version label (optional)"
          value={version}
          onChange={e => setVersion(e.target.value)}
          error={Boolean(badVersion)}
          helperText={badVersion}
          fullWidth
          margin="dense"
        />
        {target.clusters.length > 1 && (
          <TextField
            select
            id="canary-start-cluster"
            label="Cluster"
            value={cluster}
            onChange={e => setCluster(e.target.value)}
            fullWidth
            margin="dense"
          >
            {target.clusters.map(name => (
              <MenuItem key={name} value={name}>
                {name}
              </MenuItem>
            ))}
          </TextField>
        )}
      </ConfirmActionDialog>
    </>
  );
}
