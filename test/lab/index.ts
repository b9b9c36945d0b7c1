export { ADDRESSES, Lab, LabError, ROLES, type LabOptions, type Role } from '../../src/lab/lab.js';
export type { LinkDirection, DscpTreatment, LinkImpairment } from '../../src/lab/link-model.js';
export { labUnavailableReason } from '../../src/lab/availability.js';
export { measureTcpGoodput, measurePing, measureUdp, startIperfServer } from './measurements.js';
