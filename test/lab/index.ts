export { ADDRESSES, Lab, LabError, ROLES, type LabOptions, type Role } from './lab.js';
export type { Direction, DscpTreatment, LinkImpairment } from './link-model.js';
export { labUnavailableReason } from './availability.js';
export { measureTcpGoodput, measurePing, measureUdp, startIperfServer } from './measurements.js';
