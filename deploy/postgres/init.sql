-- First start of the compose PostgreSQL: one database per service.
create database auth;
create database commerce;
