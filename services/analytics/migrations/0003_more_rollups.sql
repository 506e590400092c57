-- Two more rollups: per month by institution and flag only (a region's
-- trends and comparisons between institutions), and per month by code with
-- the patient's attributes but no institution (a condition by age and sex
-- across the region).
CREATE TABLE fact_month_institution (
  measure smallint NOT NULL,
  day date NOT NULL,
  institution text NOT NULL,
  district text NOT NULL,
  institution_type text NOT NULL,
  flag text NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (measure, day, institution, flag)
);

CREATE TABLE fact_month_code_person (
  measure smallint NOT NULL,
  day date NOT NULL,
  code text NOT NULL,
  code_group text NOT NULL,
  age_band text NOT NULL,
  sex text NOT NULL,
  flag text NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (measure, day, code, age_band, sex, flag)
);
