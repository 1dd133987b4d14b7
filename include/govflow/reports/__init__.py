"""Reports rendered from govflow's records for the people who do not read findings tables."""
