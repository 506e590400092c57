-- Region-wide monthly rollups without institutions: by the patient's
-- attributes, and by code. A year of a measure is then a thousand rows or
-- so, whatever the region's size.
CREATE TABLE fact_month_person_region (
  measure smallint NOT NULL,
  day date NOT NULL,
  age_band text NOT NULL,
  sex text NOT NULL,
  flag text NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (measure, day, age_band, sex, flag)
);

CREATE TABLE fact_month_code_region (
  measure smallint NOT NULL,
  day date NOT NULL,
  code text NOT NULL,
  code_group text NOT NULL,
  flag text NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (measure, day, code, flag)
);
