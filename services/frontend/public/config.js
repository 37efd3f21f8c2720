// Deployment settings. The default talks to the API on the same origin (the local stack, or
// CloudFront routing /api/* to the ALB). A deployment may replace this file, e.g.:
//   window.TASK_PLATFORM = { apiBase: "https://api.example.com", xrayRegion: "eu-west-1" };
window.TASK_PLATFORM = window.TASK_PLATFORM || { apiBase: "", xrayRegion: "" };
