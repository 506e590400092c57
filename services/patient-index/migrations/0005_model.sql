-- Trained matching parameters (Model::SerializeParameters), newest wins.
CREATE TABLE model_parameters (
  id bigserial PRIMARY KEY,
  parameters text NOT NULL,
  records integer NOT NULL,
  candidate_pairs integer NOT NULL,
  trained_at timestamptz NOT NULL DEFAULT now()
);
