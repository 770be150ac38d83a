"""People: users and roles, covers, teams, lane leads, logins and tokens, and every permission rule."""
