-- The analytics service's own tables. Counts only: no event is kept, and
-- patients are known by the stream's pseudonym alone, with the two
-- attributes counts are broken down by.
CREATE TABLE patient (
  pseudonym text PRIMARY KEY,
  sex text NOT NULL,
  age_band text NOT NULL
);

-- One row per day and combination of dimensions; n events. Measures are
-- analytics.v1.Measure numbers. District and institution type are those of
-- the institution when the event was counted.
CREATE TABLE fact (
  measure smallint NOT NULL,
  day date NOT NULL,
  institution text NOT NULL,
  district text NOT NULL,
  institution_type text NOT NULL,
  age_band text NOT NULL,
  sex text NOT NULL,
  code text NOT NULL,
  code_group text NOT NULL,
  flag text NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (measure, day, institution, age_band, sex, code, flag)
);
