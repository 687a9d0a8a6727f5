-- Statement numbers never repeat, also between contracts: a municipality's second and later
-- contracts number their statements in a series of their own (`GM0344.2-2027-0001`).
CREATE UNIQUE INDEX statements_number_unique ON statements (number);
