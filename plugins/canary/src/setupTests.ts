import '@testing-library/jest-dom';
import { configure } from '@testing-library/react';

// The machines that run these tests are shared and slow; permission checks
// and lazy-loaded extensions may take more than the default second.
configure({ asyncUtilTimeout: 5000 });
jest.setTimeout(20_000);
