import '@testing-library/jest-dom';
import { configure } from '@testing-library/react';

// The machines that run these tests are shared and slow; permission checks
// and lazy-loaded extensions may take more than the default second.
configure({ asyncUtilTimeout: 5000 });
// A test of several filter choices in the rollouts page takes 4.5 s on an
// idle machine and passed 20 s with four other processes busy on both
// cores: a whole test may take a minute before it counts as hung.
jest.setTimeout(60_000);
