-- Every dimension column is part of its table's key: an institution that
-- moves district, or was counted under "unknown" before the directory knew
-- it, then gets rows of its own instead of keeping whichever district came
-- first, and a rollup rebuilt from fact groups exactly as its key does.
ALTER TABLE fact DROP CONSTRAINT fact_pkey, ADD PRIMARY KEY
  (measure, day, institution, district, institution_type, age_band, sex, code, code_group, flag);
ALTER TABLE fact_day_institution DROP CONSTRAINT fact_day_institution_pkey, ADD PRIMARY KEY
  (measure, day, institution, district, institution_type, flag);
ALTER TABLE fact_month_institution DROP CONSTRAINT fact_month_institution_pkey, ADD PRIMARY KEY
  (measure, day, institution, district, institution_type, flag);
ALTER TABLE fact_month_person DROP CONSTRAINT fact_month_person_pkey, ADD PRIMARY KEY
  (measure, day, institution, district, institution_type, age_band, sex, flag);
ALTER TABLE fact_month_code DROP CONSTRAINT fact_month_code_pkey, ADD PRIMARY KEY
  (measure, day, institution, district, institution_type, code, code_group, flag);
ALTER TABLE fact_month_code_person DROP CONSTRAINT fact_month_code_person_pkey, ADD PRIMARY KEY
  (measure, day, age_band, sex, code, code_group, flag);
ALTER TABLE fact_month_code_region DROP CONSTRAINT fact_month_code_region_pkey, ADD PRIMARY KEY
  (measure, day, code, code_group, flag);
